import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * Schemas use zod's tree-shakable build (`zod/mini`), which ships no messages until a locale is set: the
 * function bundle then carries ~25 KiB of zod instead of ~440 KiB, which is cold-start time. Each schema
 * module imports this file for its side effect.
 */
config(en());
