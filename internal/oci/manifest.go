package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ErrManifestInvalid wraps every reason a manifest body is refused.
var ErrManifestInvalid = errors.New("manifest invalid")

// Descriptor is the subset of an OCI descriptor the registry needs.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Data         []byte            `json:"data,omitempty"`
}

// rawManifest covers image manifests, indexes and their Docker equivalents;
// unknown fields are ignored (custom fields are allowed by the spec).
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// RefKind says what a manifest reference must point at.
type RefKind int

const (
	RefBlob     RefKind = iota // config or layer: a blob linked into the repository
	RefManifest                // index child: a manifest in the repository
)

// Ref is one thing a manifest requires to exist in its repository.
type Ref struct {
	Digest digest.Digest
	Size   int64
	Kind   RefKind
}

// Manifest is a validated manifest: what is stored and what it references.
type Manifest struct {
	MediaType string
	// ArtifactType is what the referrers API reports: the manifest's
	// artifactType, or for an image manifest without one, its config type.
	ArtifactType string
	Subject      *Descriptor
	Annotations  map[string]string
	Refs         []Ref
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrManifestInvalid, fmt.Sprintf(format, args...))
}

// ParseManifest validates body as a manifest of the given Content-Type (which
// may be empty) and returns what the registry needs to store it.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("body is not a JSON manifest: %v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the manifest")
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	ct := stripParams(contentType)
	mt := raw.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct:
		return nil, invalid("mediaType %q does not match Content-Type %q", mt, ct)
	case mt == "" && ct != "":
		mt = ct
	case mt == "" && raw.Manifests != nil:
		mt = MediaTypeImageIndex
	case mt == "":
		mt = MediaTypeImageManifest
	}
	if !IsManifestType(mt) {
		return nil, invalid("unsupported manifest media type %q", mt)
	}
	m := &Manifest{MediaType: mt, ArtifactType: raw.ArtifactType, Annotations: raw.Annotations}
	if raw.Subject != nil {
		if err := checkDescriptor("subject", raw.Subject); err != nil {
			return nil, err
		}
		m.Subject = raw.Subject
	}
	if IsIndexType(mt) {
		if raw.Config != nil || raw.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
		for i := range raw.Manifests {
			d := &raw.Manifests[i]
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), d); err != nil {
				return nil, err
			}
			m.Refs = append(m.Refs, Ref{Digest: d.Digest, Size: d.Size, Kind: RefManifest})
		}
		return m, nil
	}
	if raw.Manifests != nil {
		return nil, invalid("an image manifest has no manifests list")
	}
	if raw.Config == nil {
		return nil, invalid("config descriptor is required")
	}
	if err := checkDescriptor("config", raw.Config); err != nil {
		return nil, err
	}
	if m.ArtifactType == "" {
		m.ArtifactType = raw.Config.MediaType
	}
	m.Refs = append(m.Refs, Ref{Digest: raw.Config.Digest, Size: raw.Config.Size, Kind: RefBlob})
	for i := range raw.Layers {
		d := &raw.Layers[i]
		if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), d); err != nil {
			return nil, err
		}
		if IsNonDistributable(d.MediaType) {
			continue // not expected to be in the registry
		}
		m.Refs = append(m.Refs, Ref{Digest: d.Digest, Size: d.Size, Kind: RefBlob})
	}
	return m, nil
}

func checkDescriptor(where string, d *Descriptor) error {
	if d.MediaType == "" {
		return invalid("%s: mediaType is required", where)
	}
	if _, err := ParseDigest(string(d.Digest)); err != nil {
		return invalid("%s: digest %q is invalid", where, d.Digest)
	}
	if d.Size < 0 {
		return invalid("%s: negative size", where)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return invalid("%s: embedded data does not match digest and size", where)
		}
	}
	return nil
}
