// Preloaded (`node --import`) into every process the benchmark starts. The driver opens an IPC
// channel to each one; if the driver dies, even by SIGKILL where no cleanup code runs, the
// channel closes and this makes the child follow instead of lingering on its port. The channel is
// unref'd so it never keeps a process alive on its own, and nothing is ever sent over it.
// A cluster worker (our service under `ours-cluster-*`) inherits this preload, but its channel
// is the cluster's own, to the primary: unref'ing it would let the worker exit before it listens,
// and cluster workers already exit when their primary goes.
import cluster from 'node:cluster'

if (process.channel !== undefined && !cluster.isWorker) {
  process.channel.unref()
  process.once('disconnect', () => process.exit(0))
}
