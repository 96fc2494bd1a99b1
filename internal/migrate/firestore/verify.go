package firestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
)

// GroupCheck compares one collection group (documents by collection id) between source and target.
type GroupCheck struct {
	CollectionID   string `json:"collectionId"`
	SourceCount    int    `json:"sourceCount"`
	TargetCount    int    `json:"targetCount"`
	SourceChecksum string `json:"sourceChecksum"`
	TargetChecksum string `json:"targetChecksum"`
	Match          bool   `json:"match"`
}

// Difference is one document that is not the same on both sides.
type Difference struct {
	Path    string `json:"path"`
	Problem string `json:"problem"` // missing in PostgreSQL, not in the source, content differs
}

// VerifyReport is what `verify` prints.
type VerifyReport struct {
	Groups      []GroupCheck `json:"collections"`
	Differences []Difference `json:"differences"`
}

// Verify reads every document of the source and of the target, puts each into the canonical
// encoding (the target's back from jsonb), and compares counts and checksums per collection
// group and document by document.
func Verify(ctx context.Context, pool *pgxpool.Pool, schema string, src Source) (*VerifyReport, error) {
	type entry struct {
		group string
		sum   []byte
	}
	source := map[string]entry{}
	err := src.Documents(ctx, func(d Document) error {
		data, err := EncodeFields(d.Fields)
		if err != nil {
			return err
		}
		source[d.Path] = entry{d.CollectionID(), Checksum(data)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	target := map[string]entry{}
	rows, err := pool.Query(ctx, `SELECT path, collection_id, data::text FROM `+schema+`.firestore_documents`)
	if err != nil {
		return nil, fmt.Errorf("reading %s.firestore_documents: %w", schema, err)
	}
	for rows.Next() {
		var path, group, data string
		if err := rows.Scan(&path, &group, &data); err != nil {
			return nil, err
		}
		fields, err := DecodeFields([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("%s: stored data does not decode: %w", path, err)
		}
		canon, err := EncodeFields(fields)
		if err != nil {
			return nil, err
		}
		target[path] = entry{group, Checksum(canon)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rep := &VerifyReport{Differences: []Difference{}}
	groups := map[string]*GroupCheck{}
	sums := map[string][2][]string{} // group -> sorted "path:sum" lists for source and target
	add := func(m map[string]entry, side int) {
		for path, e := range m {
			g := groups[e.group]
			if g == nil {
				g = &GroupCheck{CollectionID: e.group}
				groups[e.group] = g
			}
			if side == 0 {
				g.SourceCount++
			} else {
				g.TargetCount++
			}
			s := sums[e.group]
			s[side] = append(s[side], path+":"+hex.EncodeToString(e.sum))
			sums[e.group] = s
		}
	}
	add(source, 0)
	add(target, 1)
	for name, g := range groups {
		s := sums[name]
		g.SourceChecksum, g.TargetChecksum = setSum(s[0]), setSum(s[1])
		g.Match = g.SourceCount == g.TargetCount && g.SourceChecksum == g.TargetChecksum
		rep.Groups = append(rep.Groups, *g)
	}
	sort.Slice(rep.Groups, func(i, j int) bool { return rep.Groups[i].CollectionID < rep.Groups[j].CollectionID })
	for path, e := range source {
		t, ok := target[path]
		switch {
		case !ok:
			rep.Differences = append(rep.Differences, Difference{path, "missing in PostgreSQL"})
		case !bytes.Equal(t.sum, e.sum):
			rep.Differences = append(rep.Differences, Difference{path, "content differs"})
		}
	}
	for path := range target {
		if _, ok := source[path]; !ok {
			rep.Differences = append(rep.Differences, Difference{path, "not in the source"})
		}
	}
	sort.Slice(rep.Differences, func(i, j int) bool { return rep.Differences[i].Path < rep.Differences[j].Path })
	return rep, nil
}

// setSum hashes a set of "path:checksum" entries independently of order.
func setSum(entries []string) string {
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
