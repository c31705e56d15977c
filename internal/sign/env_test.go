package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

// env is a SQLite store and a directory blob store (counting opens, to
// see when verification reads signatures), with helpers that push the way
// the registry does.
type env struct {
	t      testing.TB
	meta   *sqlstore.Store
	blobs  *countingBlobs
	c      *Checker
	audits []meta.AuditRecord
	n      int
}

type countingBlobs struct {
	*fs.Store
	opens atomic.Int64
}

func (b *countingBlobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	b.opens.Add(1)
	return b.Store.Open(ctx, d)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, meta: m, blobs: &countingBlobs{Store: b}}
	e.c = New(Options{Store: m, Blobs: e.blobs, Audit: func(r meta.AuditRecord) { e.audits = append(e.audits, r) },
		Logger: slog.New(slog.DiscardHandler)})
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// project creates a project with metadata and re-reads the policies.
func (e *env) project(name string, md map[string]string) *meta.Project {
	e.t.Helper()
	p := &meta.Project{Name: name}
	e.must(e.meta.CreateProjectWith(e.t.Context(), p, meta.ProjectChange{Metadata: md}))
	e.must(e.c.Refresh(e.t.Context()))
	return p
}

func (e *env) blob(repo string, content []byte) map[string]any {
	e.t.Helper()
	ctx := e.t.Context()
	d := digest.FromBytes(content)
	id := blob.NewUploadID()
	w, err := e.blobs.Append(ctx, id, 0)
	e.must(err)
	_, err = w.Write(content)
	e.must(err)
	e.must(w.Close())
	e.must(e.blobs.Commit(ctx, id, d, int64(len(content))))
	e.must(e.meta.CommitBlob(ctx, repo, d, int64(len(content)), ""))
	return map[string]any{"mediaType": "application/octet-stream", "digest": d, "size": len(content)}
}

func (e *env) put(repo string, v any, tags ...string) *meta.Manifest {
	e.t.Helper()
	body, err := json.Marshal(v)
	e.must(err)
	p, err := oci.ParseManifest("", body)
	e.must(err)
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: p.MediaType, Size: int64(len(body)),
		Body: body, ArtifactType: p.ArtifactType, Refs: p.Refs}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	e.must(e.meta.PutManifest(e.t.Context(), m, tags))
	return m
}

func with(d map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// image pushes a small image with its own config.
func (e *env) image(repo string, tags ...string) *meta.Manifest {
	e.t.Helper()
	e.n++
	cfg := with(e.blob(repo, fmt.Appendf(nil, `{"n":%d}`, e.n)), "mediaType", "application/vnd.oci.image.config.v1+json")
	layer := with(e.blob(repo, fmt.Appendf(nil, "layer %d", e.n)), "mediaType", "application/vnd.oci.image.layer.v1.tar+gzip")
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest, "config": cfg,
		"layers": []any{layer}}, tags...)
}

func (e *env) index(repo string, children ...*meta.Manifest) *meta.Manifest {
	e.t.Helper()
	var ms []any
	for _, c := range children {
		ms = append(ms, map[string]any{"mediaType": c.MediaType, "digest": c.Digest, "size": c.Size})
	}
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "manifests": ms})
}

func descOf(m *meta.Manifest) map[string]any {
	return map[string]any{"mediaType": m.MediaType, "digest": m.Digest, "size": m.Size}
}

// emptyConfig is the config of cosign's and notation's signature manifests.
func (e *env) config(repo, mediaType string) map[string]any {
	return with(e.blob(repo, []byte("{}")), "mediaType", mediaType)
}

// cosignSign pushes a classic cosign signature of signed (the payload
// names it) under the ".sig" tag of target, signed by key.
func (e *env) cosignSign(repo string, key crypto.Signer, signed, target digest.Digest) *meta.Manifest {
	e.t.Helper()
	layer := e.simpleSigning(repo, key, signed)
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": e.config(repo, "application/vnd.oci.image.config.v1+json"), "layers": []any{layer}},
		"sha256-"+target.Encoded()+".sig")
}

// cosignReferrer pushes a classic cosign signature of m as a referrer
// (cosign's --registry-referrers-mode=oci-1-1).
func (e *env) cosignReferrer(repo string, key crypto.Signer, m *meta.Manifest) *meta.Manifest {
	e.t.Helper()
	layer := e.simpleSigning(repo, key, m.Digest)
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"artifactType": ArtifactTypeCosign, "config": e.config(repo, "application/vnd.oci.empty.v1+json"),
		"layers": []any{layer}, "subject": descOf(m)})
}

// simpleSigning stores a cosign payload naming signed, and returns its
// layer with the signature annotation.
func (e *env) simpleSigning(repo string, key crypto.Signer, signed digest.Digest) map[string]any {
	e.t.Helper()
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":"x/%s"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, repo, signed)
	h := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	e.must(err)
	return with(e.blob(repo, payload), "mediaType", MediaTypeSimpleSigning,
		"annotations", map[string]string{AnnotationCosignSignature: base64.StdEncoding.EncodeToString(sig)})
}

// bundleSign pushes a sigstore bundle of m as a referrer, signed by key.
func (e *env) bundleSign(repo string, key crypto.Signer, m *meta.Manifest) *meta.Manifest {
	e.t.Helper()
	stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":%q}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`, m.Digest.Encoded())
	msg, opts := dssePAE(inTotoPayloadType, stmt), crypto.SignerOpts(crypto.Hash(0)) // Ed25519 signs the message
	if _, ed := key.(ed25519.PrivateKey); !ed {
		h := sha256.Sum256(msg)
		msg, opts = h[:], crypto.SHA256
	}
	sig, err := key.Sign(rand.Reader, msg, opts)
	e.must(err)
	b, err := json.Marshal(map[string]any{"mediaType": ArtifactTypeSigstoreBundle, "verificationMaterial": map[string]any{},
		"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(stmt), "payloadType": inTotoPayloadType,
			"signatures": []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(sig)}}}})
	e.must(err)
	layer := with(e.blob(repo, b), "mediaType", ArtifactTypeSigstoreBundle)
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"artifactType": ArtifactTypeSigstoreBundle, "config": e.config(repo, "application/vnd.oci.empty.v1+json"),
		"layers": []any{layer}, "subject": descOf(m)})
}

// notationSign pushes a notation signature of m as a referrer, in the
// envelope format mediaType, by the certificate chain and key.
func (e *env) notationSign(repo, mediaType string, chain []*x509.Certificate, key crypto.PrivateKey, m *meta.Manifest) *meta.Manifest {
	e.t.Helper()
	signer, err := signature.NewLocalSigner(chain, key)
	e.must(err)
	env, err := signature.NewEnvelope(mediaType)
	e.must(err)
	payload := fmt.Appendf(nil, `{"targetArtifact":{"mediaType":%q,"digest":%q,"size":%d}}`, m.MediaType, m.Digest, m.Size)
	sig, err := env.Sign(&signature.SignRequest{Payload: signature.Payload{ContentType: notationPayloadType, Content: payload},
		Signer: signer, SigningTime: time.Now(), SigningScheme: signature.SigningSchemeX509, SigningAgent: "berth-test"})
	e.must(err)
	layer := with(e.blob(repo, sig), "mediaType", mediaType)
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": e.config(repo, ArtifactTypeNotation), "layers": []any{layer}, "subject": descOf(m)})
}

// pull checks a manifest GET of m from repo.
func (e *env) pull(repo string, m *meta.Manifest) error {
	e.t.Helper()
	full, err := e.meta.GetManifest(e.t.Context(), repo, string(m.Digest), true)
	e.must(err)
	return e.c.CheckPull(e.t.Context(), Pull{Repo: repo, Manifest: full})
}

func (e *env) allowed(repo string, m *meta.Manifest) {
	e.t.Helper()
	if err := e.pull(repo, m); err != nil {
		e.t.Fatalf("pull of %s@%s refused: %v", repo, m.Digest, err)
	}
}

func (e *env) refused(repo string, m *meta.Manifest, msg string) {
	e.t.Helper()
	err := e.pull(repo, m)
	pv, ok := err.(*meta.PolicyViolationError)
	if !ok || pv.Message != msg {
		e.t.Fatalf("pull of %s@%s: %v, want refused with %q", repo, m.Digest, err, msg)
	}
}

func (e *env) addKey(projectID int64, name, typ, pemText string) *meta.SigningKey {
	e.t.Helper()
	k := &meta.SigningKey{ProjectID: projectID, Name: name, Type: typ, PEM: pemText}
	e.must(e.c.AddKey(e.t.Context(), k))
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// codeSigningCert is a self-signed code-signing certificate, as `notation
// cert generate-test` makes.
func codeSigningCert(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
