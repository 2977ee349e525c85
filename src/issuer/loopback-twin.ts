import { createServer, type Server } from 'node:http'
import type { FastifyServerFactory } from 'fastify'
import type { LoopbackAddress } from './config.js'

/**
 * Serves the same Fastify app on the other loopback address too. `localhost` may resolve to ::1
 * before 127.0.0.1; Node 20's fetch then falls back to IPv4 only thanks to autoSelectFamily, and
 * another server on [::1]:<port> would silently receive our clients' requests. Listening on both
 * makes `http://localhost:<port>/` reach the issuer whatever the resolver says, or fail at start.
 */
export class LoopbackTwin {
  // Set by serverFactory, which Fastify calls while being constructed.
  #twin!: Server

  /** Give this to Fastify: it keeps Fastify's request handler for the twin. */
  readonly serverFactory: FastifyServerFactory = (handler) => {
    this.#twin = createServer(handler)
    return createServer(handler)
  }

  /** Returns false when this machine has no such address (IPv6 disabled): nothing can reach it there. */
  async listen (host: LoopbackAddress, port: number): Promise<boolean> {
    const twin = this.#twin
    try {
      await new Promise<void>((resolve, reject) => {
        twin.once('error', reject).listen({ host, port }, () => { twin.off('error', reject); resolve() })
      })
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return false
      throw new Error(`Cannot also listen on ${hostPort(host, port)} (${code}): another server there would receive requests for http://localhost:${port}/. Stop it or pick another LOCAL_ISSUER_PORT.`)
    }
  }

  async close (): Promise<void> {
    const twin = this.#twin
    if (!twin.listening) return
    await new Promise<void>(resolve => twin.close(() => resolve()))
  }
}

export function otherLoopback (host: LoopbackAddress): LoopbackAddress {
  return host === '127.0.0.1' ? '::1' : '127.0.0.1'
}

/** `127.0.0.1:3011` or `[::1]:3011`, as in a URL. */
export function hostPort (host: LoopbackAddress, port: number): string {
  return `${host === '::1' ? '[::1]' : host}:${port}`
}
