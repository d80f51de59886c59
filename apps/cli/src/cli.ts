#!/usr/bin/env node
// The `lopt` command. Everything lives in main.ts; this file only runs it and sets the exit code.
import { main } from './main.js';

process.exitCode = await main(process.argv);
