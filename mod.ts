/**
 * buildhost: a remote build host for Nix-style builds, speaking Nix's serve
 * protocol. This module is the library API.
 *
 * @example Hashing with Nix's encodings
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "./mod.ts";
 * assert.equal(Hash.of("sha256", "").toString("base32"), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
 * ```
 *
 * @module
 */
export * from "./lib/errors.ts";
export * from "./lib/wire/wire_error.ts";
export * from "./lib/wire/wire_reader.ts";
export * from "./lib/wire/wire_writer.ts";
export * from "./lib/hash/nix_base32.ts";
export * from "./lib/hash/hash.ts";
export * from "./lib/store_path/store_path.ts";
export * from "./lib/store_path/make_store_path.ts";
export * from "./lib/store_path/reference_scanner.ts";
export * from "./lib/nar/nar_error.ts";
export * from "./lib/nar/tokens.ts";
export * from "./lib/nar/nar_writer.ts";
export * from "./lib/nar/nar_reader.ts";
export * from "./lib/nar/nar_listing.ts";
export * from "./lib/derivation/derivation.ts";
export * from "./lib/derivation/aterm.ts";
export * from "./lib/derivation/derivation_json.ts";
export * from "./lib/derivation/hash_modulo.ts";
export * from "./lib/derivation/derivation_error.ts";
export * from "./lib/derivation/nix_string.ts";
export * from "./lib/derivation/output_paths.ts";
export * from "./lib/derivation/output_triple.ts";
export * from "./lib/derivation/build_result.ts";
export * from "./lib/store/dump_path.ts";
export * from "./lib/store/restore_path.ts";
export * from "./lib/hash/parallel_hash_sink.ts";
export * from "./lib/store/store_layout.ts";
export * from "./lib/store/path_info.ts";
export * from "./lib/store/store_db.ts";
export * from "./lib/store/path_lock.ts";
export * from "./lib/store/canonicalise.ts";
export * from "./lib/store/temp_roots.ts";
export * from "./lib/store/export_format.ts";
export * from "./lib/store/store.ts";
export * from "./lib/store/gc.ts";
export * from "./lib/serve/server.ts";
export * from "./lib/builder/builder.ts";
export * from "./lib/builder/register_outputs.ts";
export * from "./lib/builder/unsandboxed_runner.ts";
export * from "./lib/sandbox/sandbox_paths.ts";
export * from "./lib/serve_protocol/serve_protocol_error.ts";
// SERVE_MAGIC_1, SERVE_MAGIC_2 and SERVE_PROTOCOL_VERSION come from server.ts for now (same values).
export {
  formatProtocolVersion,
  LATEST_PROTOCOL_VERSION,
  OLDEST_PROTOCOL_VERSION,
  protocolMajor,
  protocolMinor,
  type ProtocolVersion,
  protocolVersion,
  SERVE_LIMITS,
  type ServeCodecOptions,
  ServeCommand,
  type ServeCommandName,
  serveCommandName,
} from "./lib/serve_protocol/protocol.ts";
export * from "./lib/serve_protocol/handshake.ts";
export * from "./lib/serve_protocol/build_options.ts";
export * from "./lib/serve_protocol/build_result.ts";
export * from "./lib/serve_protocol/path_infos.ts";
export * from "./lib/serve_protocol/add_to_store_nar.ts";
export * from "./lib/serve_protocol/basic_derivation_codec.ts";
export * from "./lib/serve_protocol/requests.ts";
export * from "./lib/serve_protocol/replies.ts";
export * from "./lib/sandbox/sandbox_error.ts";
export * from "./lib/sandbox/sandbox.ts";
export * from "./lib/builder/build_env.ts";
export * from "./lib/sandbox/process_tree.ts";
export * from "./lib/builder/sandbox_runner.ts";
export * from "./lib/store/store_derivation.ts";
export * from "./lib/remote/remote_error.ts";
export * from "./lib/remote/serve_client.ts";
export * from "./lib/remote/copy_paths.ts";
export * from "./lib/remote/remote_build.ts";
export * from "./lib/remote/serve_host_process.ts";
export * from "./lib/remote/in_process_host.ts";
export * from "./lib/remote/machine_spec.ts";
export * from "./lib/remote/machine_scheduler.ts";
export * from "./lib/daemon/daemon_server.ts";
export * from "./lib/daemon/daemon_listener.ts";
export * from "./lib/remote/remote_client.ts";
export * from "./lib/remote/daemon_client.ts";
export * from "./lib/remote/daemon_host_process.ts";
export * from "./lib/remote/host_process.ts";
export * from "./lib/remote/machine_host.ts";
export * from "./lib/builder/signal_text.ts";
