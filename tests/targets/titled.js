#!/usr/bin/env node
// core.js under another process name, as a server that sets process.title
// does (Node renames its main thread with prctl(PR_SET_NAME)).
// Usage: node titled.js PORT TITLE
'use strict';

process.title = process.argv[3];
require('../servers/core.js');
