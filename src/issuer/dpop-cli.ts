#!/usr/bin/env node
// Prints `Authorization: DPoP <token>` and a `DPoP: <proof>` header for curl -H @-:
// `node dist/src/issuer/dpop-cli.js GET http://localhost:3010/api/private [TOKEN | -]`.
import { text } from 'node:stream/consumers'
import { processIo } from './commands.js'
import { runDpopCommand } from './dpop-command.js'

process.exitCode = await runDpopCommand(process.argv.slice(2), process.env, processIo, async () => await text(process.stdin))
