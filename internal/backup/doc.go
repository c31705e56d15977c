// Package backup takes consistent online snapshots of a berth deployment
// (berth backup), restores them into a new deployment (berth restore) and
// checks a deployment's consistency (berth fsck).
//
// # A snapshot
//
// A snapshot is a directory:
//
//	snapshot.json   the manifest: format version, time, counts, and every
//	                blob the database references with its digest and size
//	meta.db         the SQLite database (VACUUM INTO), or
//	meta.pgdump     pg_dump's custom format of the PostgreSQL database
//	blobs/sha256/ab/abcd…   the referenced blobs, laid out as the fs store
//	files/          the data directory's token.key, session.key (which also
//	                seals the secrets stored in the database) and acme/
//
// snapshot.json is written last, atomically (temporary file, fsync,
// rename, fsync of the directory), and removed first when a backup starts
// in an existing snapshot directory: a directory without it is an
// interrupted backup, and restore refuses it.
//
// # Why the snapshot is consistent while berth runs
//
// The database is copied first, as one transaction: SQLite's VACUUM INTO
// reads one read transaction of the live file (WAL lets it run beside the
// server's writer; it needs no lock of ours and not the data directory's
// flock, which the server holds), and pg_dump runs in a snapshot exported
// by a REPEATABLE READ transaction in which we also list the blobs. Every
// push the server acknowledged before the backup started is in that
// transaction: a manifest PUT is acknowledged after its commit.
//
// Then the blobs the copied database references (its blobs table) are
// copied. Blobs are immutable and content-addressed, so a blob's bytes are
// the same whenever they are read; what can happen is that they are gone.
// By garbage collection's protocol (internal/gc, doc.go) bytes are deleted
// only after the blob's row has been deleted, in a transaction that finds
// no link (steps 2 and 3). A blob whose row is in our database copy but
// whose bytes are missing was therefore deleted by a collection that ran
// after the copy, and a new copy of the database will not have its row
// (unless it was pushed again, and then a commit makes sure of the bytes
// before its row exists again: step 4). So a backup that finds bytes
// missing checks the live database: if the rows of all missing blobs are
// gone there, it takes the database copy again and copies the blobs again
// (already copied ones are skipped), up to a bound; if a missing blob's
// row is still there, the live deployment has lost bytes, and the backup
// fails naming them (berth fsck tells more).
//
// On a local file system blobs are hard linked into the snapshot when it
// is on the same file system (a blob file is never rewritten, so the link
// is a snapshot of it), else copied while hashing and fsynced. A blob
// opened before a collection unlinks it is still read whole.
//
// Upload sessions are not in a snapshot (their bytes are not copied): the
// restored registry has none, and a client in the middle of an upload
// starts it again.
package backup
