package meta

import "context"

// ProxyRegistryKey is the project metadata key holding a proxy-cache
// project's registry id (Harbor's projects.registry_id). It is set when the
// project is created and never changed; the API shows it as the project's
// registry_id, not among its metadata.
const ProxyRegistryKey = "registry_id"

// ProxyProject is a proxy-cache project with its metadata (proxy_speed_kb,
// max_upstream_conn, proxy_cache_filter_pattern, ...).
type ProxyProject struct {
	ID         int64
	Name       string
	RegistryID int64
	Metadata   map[string]string
}

// ProxyStore serves internal/proxy: which projects are proxy caches, and
// storing what they fetched from their upstream.
type ProxyStore interface {
	// ProxyProjects lists every proxy-cache project.
	ProxyProjects(ctx context.Context) ([]ProxyProject, error)
	// PutProxyManifest stores m and points tags at it as PutManifest does,
	// except that references absent from the repository are recorded
	// without being required: an index is stored with its original bytes
	// before its children are fetched (each on its first pull), and a
	// manifest before its blobs. A reference present with another size is
	// still refused (*MissingRefError).
	PutProxyManifest(ctx context.Context, m *Manifest, tags []string) error
}
