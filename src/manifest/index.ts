/** manifest: the wire format, pure and shared by every other layer. Imports only from ../common. */
export * from './channel.ts';
export * from './file-names.ts';
export * from './integrity.ts';
export * from './manifest-event.ts';
export * from './parse.ts';
export * from './signature.ts';
export * from './types.ts';
