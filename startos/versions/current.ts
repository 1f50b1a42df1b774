import { VersionInfo } from '@start9labs/start-sdk'

/**
 * 0.1.0:1 is the app's 0.1.0 (pyproject.toml, manifest.yaml) in its first native StartOS 0.4
 * package. StartOS 0.4 records the 0.3.5 package's version 0.1.0 as 0.1.0:0, so moving from
 * that package to this one is an update, and runs `up` below.
 */
export const current = VersionInfo.of({
  version: '0.1.0:1',
  releaseNotes: {
    en_US:
      'Native StartOS 0.4 package. Set-up tasks name the next action to run; Configure Digest ' +
      "SMTP can use this server's own SMTP settings; the Dashboard Address and Status action " +
      'replaces the Properties page. An update from the 0.3.5 package keeps all data.',
  },
  migrations: {
    // The 0.3.5 package's volume is this package's volume, file for file: the same image
    // reads it at /data, the same actions write it. Nothing to convert, either way.
    up: async () => {},
    down: async () => {},
  },
})
