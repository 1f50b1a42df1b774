import { actions } from '../actions'
import { restoreInit } from '../backups'
import { setInterfaces } from '../interfaces'
import { sdk } from '../sdk'
import { versionGraph } from '../versions'
import { setupTasks } from './tasks'

// In this order: a restore first, then migrations, interfaces, actions, and the set-up tasks
// (which name actions, so they come after them).
export const init = sdk.setupInit(restoreInit, versionGraph, setInterfaces, actions, setupTasks)
export const uninit = sdk.setupUninit(versionGraph)
