// The browser-driven interop suites in one process, so that they share one Chromium launch
// (lib/harness.mjs launches it on first use and closes it after the last suite). run.sh runs this;
// each suite also runs on its own: `node login_consent.mjs`, `node full_flow.mjs`.
import './login_consent.mjs'
import './full_flow.mjs'
