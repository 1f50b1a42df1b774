import { sdk } from './sdk'
import { uiPort } from './utils'

/** The dashboard, on the same host and interface id ("main") as in the 0.3.5 package. */
export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
  const host = sdk.MultiHost.of(effects, 'main')
  const origin = await host.bindPort(uiPort, { protocol: 'http' })
  const dashboard = sdk.createInterface(effects, {
    name: 'Dashboard',
    id: 'main',
    description: 'The admin dashboard: activity search, approvals, digest controls and mailbox health.',
    type: 'ui',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  })
  return [await origin.export([dashboard])]
})
