/** The query of GET /v1/runs/:id/tunnel (docs/api.md "Tunnels"), checked at the route. @module */
import * as v from "valibot";

export const TunnelQuerySchema = v.strictObject(
  {
    protocol: v.picklist(["tcp", "udp"], "tcp or udp"),
    port: v.message(v.pipe(v.string(), v.regex(/^\d{1,5}$/), v.transform(Number), v.minValue(1), v.maxValue(65535)), "a port from 1 to 65535"),
  },
  "a query of protocol and port only",
);
