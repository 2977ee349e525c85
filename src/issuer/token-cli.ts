#!/usr/bin/env node
// Prints an access token from the running local issuer: `node dist/src/issuer/token-cli.js [--scope read:messages]`.
import { processIo, runTokenCommand } from './commands.js'

process.exitCode = await runTokenCommand(process.argv.slice(2), process.env, processIo)
