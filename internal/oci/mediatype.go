package oci

import "strings"

// Manifest media types the registry stores and serves.
const (
	MediaTypeImageManifest      = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeImageIndex         = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeEmptyJSON          = "application/vnd.oci.empty.v1+json"
)

// IsManifestType reports whether mt is a manifest media type we accept.
func IsManifestType(mt string) bool {
	switch mt {
	case MediaTypeImageManifest, MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// IsIndexType reports whether mt is an index (a list of manifests).
func IsIndexType(mt string) bool {
	return mt == MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsNonDistributable reports whether a layer media type marks content that
// registries are not expected to hold (OCI non-distributable layers and
// Docker foreign layers), so a manifest may reference it without a push.
func IsNonDistributable(mt string) bool {
	return strings.Contains(mt, ".nondistributable.") ||
		strings.HasPrefix(mt, "application/vnd.docker.image.rootfs.foreign.")
}

// stripParams removes media type parameters ("; charset=utf-8").
func stripParams(mt string) string {
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return strings.TrimSpace(mt)
}
