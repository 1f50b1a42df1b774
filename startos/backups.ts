import { sdk } from './sdk'

/**
 * Everything in the data volume is backed up but what the service regenerates: the developer
 * demo's database, the 0.3.5 properties file, and interrupted atomic writes. The same list as
 * the 0.3.5 package's .backupignore (docker_entrypoint.sh), in rsync's pattern syntax; StartOS
 * stops the service while it backs up, so the SQLite files are consistent.
 */
export const BACKUP_EXCLUDES = ['/demo', '/start9/stats.yaml', '*.tmp', '*.tmp-*', '*.lnk-*']

export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main').setOptions({ exclude: BACKUP_EXCLUDES }),
)
