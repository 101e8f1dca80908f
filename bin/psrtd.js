#!/usr/bin/env node
import '../dist/src/bin/psrtd.js';
