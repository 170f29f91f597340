/**
 * What copying and remote builds need from a session with a host, whichever
 * protocol it speaks: the serve protocol (`ssh://`, {@linkcode ServeClient})
 * or the daemon protocol (`ssh-ng://`, {@linkcode DaemonClient}).
 *
 * @module
 */
import type { RemoteError } from "./remote_error.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import type { AddToStoreNarHeader } from "../serve_protocol/add_to_store_nar.ts";
import type { BuildResult } from "../derivation/build_result.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import type { ServePathInfo } from "../serve_protocol/path_infos.ts";

/** A session with a host's store. */
export interface RemoteClient {
  /** The host, for messages. */
  readonly host: string;
  /** Whether paths go one by one with their NAR (else as an export stream). */
  readonly canAddToStoreNar: boolean;
  /** The paths the host has (locked against its GC for the session when asked). */
  queryValidPaths(paths: string[], options?: { lock?: boolean }): Promise<string[]>;
  /** Metadata of the paths the host has. */
  queryPathInfos(paths: string[]): Promise<ServePathInfo[]>;
  /** The closure of paths on the host. */
  queryClosure(paths: string[]): Promise<string[]>;
  /** A reader positioned at the path's NAR (read it whole before the next request). */
  dumpStorePath(path: string): Promise<WireReader>;
  /** Send a path and its NAR. */
  addToStoreNar(header: AddToStoreNarHeader, nar: AsyncIterable<Uint8Array>): Promise<void>;
  /** Send paths as a `nix-store --export` stream. */
  importPaths(writeExport: (w: WireWriter) => Promise<void>): Promise<void>;
  /** Build a derivation sent in memory. */
  buildDerivation(
    drvPath: string,
    drv: BasicDerivation,
    options?: ServeBuildOptions,
  ): Promise<BuildResult>;
  /** End the session. */
  close(): Promise<void>;
}

/** A host's program running for a session. */
export interface RemoteHostProcess extends AsyncDisposable {
  /** The session. */
  client: RemoteClient;
  /** End the session and wait for the program; its exit code. */
  close(): Promise<number>;
  /** Why the host was lost, once it is (undefined while it is alive). */
  readonly lostReason?: RemoteError | undefined;
  /** Cancel the session, ending the program and what it started. */
  cancel?(graceMs?: number): Promise<void>;
}
