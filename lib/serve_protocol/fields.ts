/**
 * The serve codecs' field readers and writers, shared with the worker
 * protocol codecs (`lib/worker_protocol/`), which carry the same structures
 * (path infos, BasicDerivation, BuildResult) field for field.
 *
 * @module
 */
export { FieldReader, FieldWriter, MAX_U32, sortedSet } from "./_fields.ts";
