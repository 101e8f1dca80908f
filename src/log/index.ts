export {
  createLogger,
  createMemoryLogger,
  formatTimestamp,
  type LogLevel,
  type LogRecord,
  type Logger,
  type LoggerOptions,
  type MemoryLogger,
  nullLogger,
} from './logger.js';
