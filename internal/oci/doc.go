// Package oci is the pure domain of the registry: repository names, tags,
// references, digests, media types and manifest validation. It does no I/O
// and imports nothing else of berth, so every other package may depend on it.
package oci
