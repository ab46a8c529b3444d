/**
 * @deprecated The sequencer now calls `chunksRoot` of ../l1/batch.ts, which
 * hashes with the protocol's fast Keccak itself; this alias only keeps older
 * imports compiling.
 */
export { chunksRoot as chunksRootOf } from "../l1/batch";
