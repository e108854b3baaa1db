// Firefox: no offscreen documents, so the background page hosts the engine itself and acts in
// tabs directly. It stays loaded while the sidebar holds its port open. The toolbar button opens
// and closes the sidebar (a click on it is a user action, which `sidebarAction.toggle` needs).
import { api } from './api.js';
import { startHost } from './host.js';
import * as relay from './relay.js';
import { remember } from './settings-store.js';

api.action.onClicked.addListener(() => /** @type {any} */ (api).sidebarAction.toggle());
startHost(relay, remember);
