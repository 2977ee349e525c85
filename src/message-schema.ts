/** The quickstart's answer shape; declaring it lets Fastify serialize with a compiled function. */
export const messageResponse = {
  200: {
    type: 'object',
    properties: { message: { type: 'string' } },
    required: ['message'],
    additionalProperties: false
  }
} as const
