// The process entry point (`npm start`): everything it does lives in server.ts, where tests reach it.
import { main } from './server.js'

await main()
