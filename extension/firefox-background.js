// Firefox: no offscreen documents, so the background page hosts the engine itself and acts in
// tabs directly. It stays loaded while the sidebar holds its port open.
import { startHost } from './host.js';
import * as relay from './relay.js';
import { remember } from './settings-store.js';

startHost(relay, remember);
