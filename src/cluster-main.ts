// `npm run start:cluster`: the service in WORKERS processes sharing one port (see cluster.ts).
import { runCluster } from './cluster.js'

await runCluster()
