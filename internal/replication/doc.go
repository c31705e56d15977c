// Package replication is berth's replication: the remote registries
// (Harbor's /registries, adapters docker-registry, harbor and
// docker-hub), replication policies and their executions.
//
// # Registries, for other capabilities (proxy cache)
//
// Registries keeps the endpoints. Their credentials are sealed at rest
// with a settings.Sealer (a key derived from the session key every
// replica shares) and never shown ("*****"); their health is checked on
// ping and every HealthEvery. Outbound calls go through
// go-containerregistry with the registry's Remote:
//
//	rm, err := registries.Remote(ctx, id)       // meta.ErrNotFound if none
//	repo, _ := rm.Repository("library/alpine")  // Docker Hub: "alpine" works too
//	desc, err := remote.Head(repo.Tag("3"), rm.Options(ctx)...)
//	idx, err := remote.Index(repo.Digest(d), rm.Options(ctx)...)
//
// Options carry the credential (rm.Auth), the registry's transport
// (rm.Transport: TLS as the registry says — insecure, CA certificate —,
// a per-registry request rate limit shared by all of berth's work with
// it, and retries of 429 and 503 after the registry's Retry-After that
// pause its other requests too) and the user agent. Get returns a
// Registry with its credential in clear, for code that needs the fields
// themselves; Shown and List redact it.
//
// Harbor's shapes are the API package's; this package owns the rules:
// which types, credentials and URLs are valid (ErrInvalid), and what
// each adapter supports (InfoOf, ProviderInfos).
package replication
