// Package sign enforces the projects' signature policies on pulls: Harbor's
// project metadata enable_content_trust_cosign (a cosign signature is
// required) and enable_content_trust (a notation signature is required).
//
// Harbor only checks that a signature accessory exists, so anyone who can
// push can sign. berth does the same for a project without keys, and for a
// project with trust material of that type (its signing keys: cosign
// public keys, notation root or CA certificates) requires a signature
// that verifies with one of them and that names the artifact's digest:
//
//   - cosign, classic (tag "sha256-HEX.sig", or a referrer of artifact type
//     application/vnd.dev.cosign.artifact.sig.v1+json): each simple-signing
//     layer's blob is the payload, the layer's annotation its signature;
//   - cosign, sigstore bundle (a referrer of artifact type
//     application/vnd.dev.sigstore.bundle.v0.3+json): a DSSE envelope over
//     an in-toto statement whose subject is the artifact;
//   - notation (a referrer of artifact type
//     application/vnd.cncf.notary.signature): a JWS or COSE envelope whose
//     certificate chain contains a registered certificate.
//
// A signature on an index covers its children: a child of a signed index
// of the same repository passes (the index's bytes commit to the child's
// digest). Harbor looks only at the artifact's own signatures.
//
// Cost: the policies of all projects are held in memory, refreshed every
// RefreshEvery (one query) and at once after a key or a project's metadata
// changes through this replica's API, so a pull from a project without a policy does no query and no
// allocation. A pull from a guarded project reads the artifact's
// signatures (its referrers, and cosign's ".sig" tag: two indexed reads);
// the verdict is cached by
// (repository, digest, key version, set of signatures), so repeated pulls
// do no cryptography and read no blob.
//
// Bypasses, as Harbor's: berth's own jobs (a context marked
// events.WithInternal or pullstats.Uncounted), the signatures themselves
// (cosign and notation read them to verify), and a caller that may push
// to the repository with a cosign or notation client (they read the
// manifest to sign it). The manifest GET is checked; HEAD is not (Harbor
// checks it and breaks signing flows, goharbor/harbor#22650).
package sign

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/pullstats"
)

// Harbor's messages for a refused pull (src/server/middleware/contenttrust).
const (
	msgNotCosign   = "The image is not signed by cosign."
	msgNotNotation = "The image is not signed by notation."
)

// Rules, as named in audit records: the project metadata key that refused
// or allowed a pull.
const (
	RuleCosign   = "enable_content_trust_cosign"
	RuleNotation = "enable_content_trust"
)

// Limits of the work one pull may cause.
const (
	maxSignatures   = 20      // signatures of one type tried per artifact
	maxReferrers    = 100     // referrers of an artifact read to find them
	maxParents      = 10      // parent indexes tried for a child
	maxEnvelopeSize = 1 << 20 // a signature payload, bundle or envelope blob
)

// Store is what the checker reads.
type Store interface {
	meta.SigningStore
	GetManifest(ctx context.Context, repo, ref string, withBody bool) (*meta.Manifest, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, last string, n int) ([]oci.Descriptor, error)
	ParentIndexes(ctx context.Context, repo string, d digest.Digest, limit int) ([]digest.Digest, error)
}

// Options configure a Checker; zero values get the defaults.
type Options struct {
	Store Store
	Blobs blob.Store
	// RefreshEvery is how often the projects' policies are re-read
	// (default 1s): a policy or key changed through another replica
	// applies within this delay.
	RefreshEvery time.Duration
	// VerdictTTL bounds how long a verdict is reused (default 10m): a
	// certificate may expire meanwhile.
	VerdictTTL time.Duration
	// MaxVerdicts bounds the verdict cache (default 10000 entries).
	MaxVerdicts int
	// Audit receives a record of each refused pull and each pull let
	// through by the signing-client bypass.
	Audit  func(meta.AuditRecord)
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Checker enforces the signature policies.
type Checker struct {
	opt  Options
	snap atomic.Pointer[snapshot]

	mu       sync.Mutex
	material map[int64]materialEntry // by project id
	verdicts map[string]verdict
}

type snapshot struct {
	byName map[string]meta.SigningPolicy
}

type materialEntry struct {
	version int64
	m       Material
}

type verdict struct {
	ok      bool
	reason  string
	expires time.Time
}

// New returns a checker with no policy until the first Refresh.
func New(opt Options) *Checker {
	if opt.RefreshEvery <= 0 {
		opt.RefreshEvery = time.Second
	}
	if opt.VerdictTTL <= 0 {
		opt.VerdictTTL = 10 * time.Minute
	}
	if opt.MaxVerdicts <= 0 {
		opt.MaxVerdicts = 10000
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Audit == nil {
		opt.Audit = func(meta.AuditRecord) {}
	}
	c := &Checker{opt: opt, material: map[int64]materialEntry{}, verdicts: map[string]verdict{}}
	c.snap.Store(&snapshot{byName: map[string]meta.SigningPolicy{}})
	return c
}

// Refresh re-reads the projects' policies.
func (c *Checker) Refresh(ctx context.Context) error {
	ps, err := c.opt.Store.SigningPolicies(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{byName: make(map[string]meta.SigningPolicy, len(ps))}
	for _, p := range ps {
		s.byName[p.Project] = p
	}
	c.snap.Store(s)
	return nil
}

// Run refreshes the policies every RefreshEvery until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.opt.RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.opt.Logger.WarnContext(ctx, "refreshing signature policies", "err", err)
			}
		}
	}
}

// Pull is a manifest GET to check.
type Pull struct {
	Repo     string
	Manifest *meta.Manifest // with its body
	Remote   string         // the client's address, for the audit log
	// Signer reports whether the caller may push to Repo with a cosign or
	// notation client (Harbor's bypass); asked only for an artifact that
	// would be refused.
	Signer func() bool
}

// CheckPull returns nil if the pull may be answered, or a
// *meta.PolicyViolationError with Harbor's message.
func (c *Checker) CheckPull(ctx context.Context, p Pull) error {
	pol, ok := c.snap.Load().byName[events.ProjectOf(p.Repo)]
	if !ok || !pol.RequireCosign && !pol.RequireNotation {
		return nil
	}
	if events.IsInternal(ctx) || pullstats.IsUncounted(ctx) || isSignature(p.Manifest) {
		return nil
	}
	for _, rule := range []struct {
		on          bool
		name, typ   string
		refusedWith string
	}{
		{pol.RequireCosign, RuleCosign, meta.AccessoryCosign, msgNotCosign},
		{pol.RequireNotation, RuleNotation, meta.AccessoryNotation, msgNotNotation},
	} {
		if !rule.on {
			continue
		}
		ok, reason, err := c.satisfied(ctx, pol, p.Repo, p.Manifest.Digest, p.Manifest.Size, rule.typ, true)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if p.Signer != nil && p.Signer() {
			c.audit(ctx, p, true, rule.name, "signing client with push permission: "+reason)
			continue
		}
		c.audit(ctx, p, false, rule.name, reason)
		return &meta.PolicyViolationError{Message: rule.refusedWith}
	}
	return nil
}

func (c *Checker) audit(ctx context.Context, p Pull, allowed bool, rule, reason string) {
	c.opt.Logger.InfoContext(ctx, "signature policy", "repo", p.Repo, "digest", p.Manifest.Digest, "allowed", allowed,
		"rule", rule, "reason", reason, "user", auth.FromContext(ctx).Name)
	c.opt.Audit(meta.AuditRecord{
		Username: auth.FromContext(ctx).Name, Remote: p.Remote, Operation: "pull", ResourceType: "artifact",
		Resource: p.Repo + "@" + string(p.Manifest.Digest) + " (" + rule + ": " + reason + ")",
		Project:  events.ProjectOf(p.Repo), Success: allowed,
	})
}

// signatureTypes are the artifact types of signature accessories.
var signatureTypes = map[string]bool{ArtifactTypeCosign: true, ArtifactTypeSigstoreBundle: true, ArtifactTypeNotation: true}

// isSignature reports whether m is a signature: a referrer of a signature
// type, or a cosign signature or attestation of the tag scheme (only
// simple-signing or DSSE layers: nothing a runtime could run). cosign and
// notation read them to verify.
func isSignature(m *meta.Manifest) bool {
	if m.Subject != "" && signatureTypes[m.ArtifactType] {
		return true
	}
	if !bytes.Contains(m.Body, []byte(MediaTypeSimpleSigning)) && !bytes.Contains(m.Body, []byte(mediaTypeDSSE)) {
		return false // the common case, without parsing
	}
	var b manifestBody
	if json.Unmarshal(m.Body, &b) != nil || len(b.Layers) == 0 {
		return false
	}
	for _, l := range b.Layers {
		if l.MediaType != MediaTypeSimpleSigning && l.MediaType != mediaTypeDSSE {
			return false
		}
	}
	return true
}

// manifestBody is the part of a signature manifest that is read.
type manifestBody struct {
	ArtifactType string `json:"artifactType"`
	Config       struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Layers []struct {
		MediaType   string            `json:"mediaType"`
		Digest      digest.Digest     `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations"`
	} `json:"layers"`
}

// satisfied reports whether artifact d (size bytes) of repo has a
// signature of accessory type typ that the project's policy accepts, or,
// with parents, an index of repo that references it has one; reason says
// why not, or how.
func (c *Checker) satisfied(ctx context.Context, pol meta.SigningPolicy, repo string, d digest.Digest, size int64, typ string, parents bool) (bool, string, error) {
	ok, reason, err := c.signedBy(ctx, pol, repo, d, size, typ)
	if err != nil || ok || !parents {
		return ok, reason, err
	}
	ps, err := c.opt.Store.ParentIndexes(ctx, repo, d, maxParents)
	if err != nil {
		return false, "", err
	}
	for _, pd := range ps {
		pm, err := c.opt.Store.GetManifest(ctx, repo, string(pd), false)
		if err != nil {
			continue // deleted meanwhile
		}
		if ok, _, err := c.signedBy(ctx, pol, repo, pd, pm.Size, typ); err != nil || ok {
			return ok, "signed through index " + string(pd), err
		}
	}
	return false, reason, nil
}

// signedBy is satisfied for the artifact's own signatures.
func (c *Checker) signedBy(ctx context.Context, pol meta.SigningPolicy, repo string, d digest.Digest, size int64, typ string) (bool, string, error) {
	sigs, err := c.signatures(ctx, repo, d, typ)
	if err != nil {
		return false, "", err
	}
	if len(sigs) == 0 {
		return false, "no " + typ + " signature", nil
	}
	mat, err := c.materialOf(ctx, pol)
	if err != nil {
		return false, "", err
	}
	var cosignKeys int
	var roots []*x509.Certificate
	if typ == meta.AccessoryCosign {
		cosignKeys = len(mat.CosignKeys)
	} else {
		roots = mat.NotationRoots
	}
	if cosignKeys == 0 && len(roots) == 0 {
		return true, "a signature exists and the project has no " + typ + " keys", nil
	}
	var key strings.Builder
	key.WriteString(repo + "@" + string(d) + "|" + typ + "|" + strconv.FormatInt(pol.KeysVersion, 10))
	for _, s := range sigs {
		key.WriteString("|" + string(s))
	}
	now := c.opt.Now()
	c.mu.Lock()
	v, hit := c.verdicts[key.String()]
	c.mu.Unlock()
	if hit && now.Before(v.expires) {
		return v.ok, v.reason, nil
	}
	v = verdict{reason: "no " + typ + " signature verifies with the project's keys", expires: now.Add(c.opt.VerdictTTL)}
	for _, s := range sigs {
		err := c.verifyOne(ctx, mat, repo, s, typ, d, size, now)
		if err == nil {
			v.ok, v.reason = true, "verified "+string(s)
			break
		}
		if ctx.Err() != nil {
			return false, "", ctx.Err()
		}
		if err != errNoMatch {
			c.opt.Logger.DebugContext(ctx, "signature does not verify", "repo", repo, "digest", d, "signature", s, "err", err)
		}
	}
	c.mu.Lock()
	if len(c.verdicts) >= c.opt.MaxVerdicts {
		clear(c.verdicts)
	}
	c.verdicts[key.String()] = v
	c.mu.Unlock()
	return v.ok, v.reason, nil
}

// signatures lists up to maxSignatures signatures of accessory type typ
// of d, found as the accessories listing finds them (meta.AccessoryInfo):
// referrers of a signature artifact type and, for cosign, the ".sig" tag.
// Two indexed reads, lighter than the listing (no sizes, no count).
func (c *Checker) signatures(ctx context.Context, repo string, d digest.Digest, typ string) ([]digest.Digest, error) {
	refs, err := c.opt.Store.Referrers(ctx, repo, d, "", "", maxReferrers)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, r := range refs {
		switch {
		case len(out) == maxSignatures:
		case typ == meta.AccessoryCosign && (r.ArtifactType == ArtifactTypeCosign || r.ArtifactType == ArtifactTypeSigstoreBundle),
			typ == meta.AccessoryNotation && r.ArtifactType == ArtifactTypeNotation:
			out = append(out, r.Digest)
		}
	}
	if typ == meta.AccessoryCosign && d.Algorithm() == digest.SHA256 && len(out) < maxSignatures {
		m, err := c.opt.Store.GetManifest(ctx, repo, "sha256-"+d.Encoded()+".sig", false)
		switch {
		case err == nil:
			out = append(out, m.Digest)
		case !errors.Is(err, meta.ErrTagNotFound) && !errors.Is(err, meta.ErrManifestNotFound):
			return nil, err
		}
	}
	return out, nil
}

// materialOf returns the project's parsed keys, read again when their
// version changed.
func (c *Checker) materialOf(ctx context.Context, pol meta.SigningPolicy) (Material, error) {
	if pol.KeysVersion == 0 {
		return Material{}, nil
	}
	c.mu.Lock()
	e, ok := c.material[pol.ProjectID]
	c.mu.Unlock()
	if ok && e.version == pol.KeysVersion {
		return e.m, nil
	}
	keys, _, err := c.opt.Store.SigningKeys(ctx, pol.ProjectID, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxSigningKeys}})
	if err != nil {
		return Material{}, err
	}
	m := ParseMaterial(keys)
	c.mu.Lock()
	c.material[pol.ProjectID] = materialEntry{pol.KeysVersion, m}
	c.mu.Unlock()
	return m, nil
}

// verifyOne verifies signature s (of accessory type typ) of artifact d.
func (c *Checker) verifyOne(ctx context.Context, mat Material, repo string, s digest.Digest, typ string, d digest.Digest, size int64, now time.Time) error {
	sm, err := c.opt.Store.GetManifest(ctx, repo, string(s), true)
	if err != nil {
		return err
	}
	var b manifestBody
	if err := json.Unmarshal(sm.Body, &b); err != nil {
		return err
	}
	at := b.ArtifactType
	if at == "" {
		at = b.Config.MediaType
	}
	for _, l := range b.Layers {
		var err error
		switch {
		case typ == meta.AccessoryCosign && l.MediaType == MediaTypeSimpleSigning:
			var payload []byte
			if payload, err = c.readBlob(ctx, l.Digest, l.Size); err == nil {
				err = verifyCosignPayload(mat.CosignKeys, payload, l.Annotations[AnnotationCosignSignature], d)
			}
		case typ == meta.AccessoryCosign && at == ArtifactTypeSigstoreBundle && l.MediaType == ArtifactTypeSigstoreBundle:
			var raw []byte
			if raw, err = c.readBlob(ctx, l.Digest, l.Size); err == nil {
				err = verifyBundle(mat.CosignKeys, raw, d)
			}
		case typ == meta.AccessoryNotation && (l.MediaType == MediaTypeJWS || l.MediaType == MediaTypeCOSE):
			var env []byte
			if env, err = c.readBlob(ctx, l.Digest, l.Size); err == nil {
				err = verifyNotation(mat.NotationRoots, l.MediaType, env, d, size, now)
			}
		default:
			continue
		}
		if err == nil {
			return nil
		}
	}
	return errNoMatch
}

// readBlob reads a signature's blob, bounded.
func (c *Checker) readBlob(ctx context.Context, d digest.Digest, size int64) ([]byte, error) {
	if size > maxEnvelopeSize {
		return nil, fmt.Errorf("signature blob %s of %d bytes is too large", d, size)
	}
	r, err := c.opt.Blobs.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("signature blob %s: %d bytes, want %d", d, len(b), size)
	}
	return b, nil
}
