// Preloaded (`node --import`) into every process the benchmark starts. The driver opens an IPC
// channel to each one; if the driver dies, even by SIGKILL where no cleanup code runs, the
// channel closes and this makes the child follow instead of lingering on its port. The channel is
// unref'd so it never keeps a process alive on its own, and nothing is ever sent over it.
if (process.channel !== undefined) {
  process.channel.unref()
  process.once('disconnect', () => process.exit(0))
}
