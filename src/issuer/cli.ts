#!/usr/bin/env node
// Runs the local issuer alone (`node dist/src/issuer/cli.js`), or `rotate` / `retire` its keys.
import { processIo, runIssuerCommand } from './commands.js'

process.exitCode = await runIssuerCommand(process.argv.slice(2), process.env, processIo)
