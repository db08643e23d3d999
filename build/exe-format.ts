/** Which executable format and CPU a file is built for, from its headers: ELF, Mach-O or PE; x64 or arm64. @module */

export type ExeFormat = { format: "elf" | "macho" | "pe"; arch: "x64" | "arm64" | "other" };

export function executableFormat(bytes: Uint8Array): ExeFormat | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64) return undefined;
  if (view.getUint32(0) === 0x7f454c46) {
    const machine = view.getUint16(18, true);
    return { format: "elf", arch: machine === 0x3e ? "x64" : machine === 0xb7 ? "arm64" : "other" };
  }
  if (view.getUint32(0, true) === 0xfeedfacf) {
    const cpu = view.getUint32(4, true);
    return { format: "macho", arch: cpu === 0x01000007 ? "x64" : cpu === 0x0100000c ? "arm64" : "other" };
  }
  if (bytes[0] === 0x4d && bytes[1] === 0x5a) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 > bytes.length || view.getUint32(pe) !== 0x50450000) return undefined;
    const machine = view.getUint16(pe + 4, true);
    return { format: "pe", arch: machine === 0x8664 ? "x64" : machine === 0xaa64 ? "arm64" : "other" };
  }
  return undefined;
}

/** The format a release target must have: `bun-linux-arm64` is ELF arm64. */
export function expectedFormat(target: string): ExeFormat {
  const [, os, arch] = target.split("-");
  return { format: os === "linux" ? "elf" : os === "darwin" ? "macho" : "pe", arch: arch as "x64" };
}
