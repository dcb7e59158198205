/**
 * The hits that prove their source: a completed handshake to a trap port. A
 * bare SYN (source "syn") is a hit, but anyone can forge it: only these are
 * told to others as this host's proof (abuse reports, CrowdSec alerts), or
 * anyone could have any address reported.
 */
export const PROVEN_SOURCES: readonly string[] = ["trap", "kernel", "inetd"];
export const isProvenHit = (source: string): boolean => PROVEN_SOURCES.includes(source);
