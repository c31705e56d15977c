package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/berth-registry/berth/internal/scan/catalog"
)

// NamespaceBase prefixes every SPDX document namespace berth writes:
// the namespace is the image (repository and digest; a repository name
// is URI-safe) plus a random
// UUID, so each document, even a second one of the same digest, has its
// own, as SPDX 2.3 §6.5 requires.
const NamespaceBase = "https://berth-registry.github.io/spdx/image/"

// SPDX element ids (written with the "SPDXRef-" prefix).
const (
	spdxImageID = "Image"
	spdxOSID    = "OperatingSystem"
)

// noAssertion is SPDX's "the writer says nothing about it".
const noAssertion = "NOASSERTION"

// WriteSPDX writes the packages as an SPDX 2.3 JSON document: the image
// as a CONTAINER package that the document DESCRIBES, the OS as an
// OPERATING-SYSTEM package the image CONTAINS, and one package per
// catalogued package with its purl as a PACKAGE-MANAGER external
// reference, CONTAINED by the OS (distribution packages) or the image
// (Go modules of binaries). Licences and download locations are not
// catalogued: NOASSERTION. The layer and path a package was read from
// are its comment; its source package, its sourceInfo.
func WriteSPDX(tool Tool, img Image, os catalog.OS, pkgs []catalog.Package) ([]byte, error) {
	name := img.Repo + "@" + string(img.Digest)
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: NamespaceBase + img.Repo + "@" + string(img.Digest) + "/" + uuid.NewString(),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: tool.Name + "-" + tool.Version}},
			Created:  time.Now().UTC().Format(time.RFC3339),
		},
	}
	imagePkg := spdxPackage(spdxImageID, img.Repo, string(img.Digest))
	imagePkg.PrimaryPackagePurpose = "CONTAINER"
	imagePkg.PackageChecksums = imageChecksums(img)
	doc.Packages = append(doc.Packages, imagePkg)
	rel := func(a, typ, b string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", a), RefB: common.MakeDocElementID("", b), Relationship: typ})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, spdxImageID)

	if os.ID != "" {
		osPkg := spdxPackage(spdxOSID, os.ID, os.VersionID)
		osPkg.PrimaryPackagePurpose = "OPERATING-SYSTEM"
		doc.Packages = append(doc.Packages, osPkg)
		rel(spdxImageID, common.TypeRelationshipContains, spdxOSID)
	}
	for _, e := range entries(os, pkgs) {
		p := spdxPackage(spdxPackageID(e.PURL), e.Name, e.Version)
		p.PrimaryPackagePurpose = "LIBRARY"
		p.PackageExternalReferences = []*spdx.PackageExternalReference{
			{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: e.PURL}}
		p.PackageComment = fmt.Sprintf("layer %s, path %s", e.Layer, e.Path)
		if e.SrcName != "" && (e.SrcName != e.Name || e.SrcVersion != e.Version) {
			p.PackageSourceInfo = fmt.Sprintf("built package from: %s %s", e.SrcName, e.SrcVersion)
		}
		doc.Packages = append(doc.Packages, p)
		parent := spdxImageID
		if os.ID != "" && e.Type != catalog.TypeGoBinary {
			parent = spdxOSID
		}
		rel(parent, common.TypeRelationshipContains, string(p.PackageSPDXIdentifier))
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf); err != nil {
		return nil, fmt.Errorf("encoding the SPDX SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// spdxPackage is a package with what berth does not know said so.
func spdxPackage(id, name, version string) *spdx.Package {
	return &spdx.Package{
		PackageSPDXIdentifier:     common.ElementID(id),
		PackageName:               name,
		PackageVersion:            version,
		PackageDownloadLocation:   noAssertion,
		FilesAnalyzed:             false,
		IsFilesAnalyzedTagPresent: true,
		PackageLicenseConcluded:   noAssertion,
		PackageLicenseDeclared:    noAssertion,
		PackageCopyrightText:      noAssertion,
	}
}

// spdxPackageID is a package's element id: a hash of its purl, since an
// SPDX id allows only letters, digits, '.' and '-' and must be unique.
func spdxPackageID(purl string) string {
	sum := sha256.Sum256([]byte(purl))
	return "Package-" + hex.EncodeToString(sum[:8])
}

// imageChecksums: the image package's checksum is its manifest digest
// (sha256 or sha512), which is what identifies it.
func imageChecksums(img Image) []common.Checksum {
	var alg common.ChecksumAlgorithm
	switch img.Digest.Algorithm() {
	case "sha256":
		alg = common.SHA256
	case "sha512":
		alg = common.SHA512
	default:
		return nil
	}
	if img.Digest.Validate() != nil {
		return nil
	}
	return []common.Checksum{{Algorithm: alg, Value: img.Digest.Encoded()}}
}
