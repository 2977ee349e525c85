#!/usr/bin/env node
// Runs the local issuer alone (`node dist/src/issuer/cli.js`), or `rotate` / `retire` its keys.
import { processIo } from './cli-io.js'
import { runIssuerCommand } from './issuer-command.js'

process.exitCode = await runIssuerCommand(process.argv.slice(2), process.env, processIo)
