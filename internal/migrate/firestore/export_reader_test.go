package firestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/export is an export the Firestore emulator wrote of dataset() and exportEdges().
const sampleExport = "testdata/export"

func sampleFiles(t testing.TB) fstest.MapFS {
	t.Helper()
	files := fstest.MapFS{}
	err := filepath.WalkDir(sampleExport, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(sampleExport, p)
		files[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
		return err
	})
	require.NoError(t, err)
	return files
}

const sampleOutput = "all_namespaces/all_kinds/output-0"

func readExport(files fstest.MapFS) ([]Document, error) {
	var docs []Document
	err := (&ExportSource{Files: files, Name: "export"}).Documents(context.Background(), func(d Document) error {
		docs = append(docs, d)
		return nil
	})
	return docs, err
}

func TestSampleExportHoldsTheDataset(t *testing.T) {
	docs, err := readExport(sampleFiles(t))
	require.NoError(t, err)
	assert.Equal(t, canonical(t, append(dataset(), exportEdges()...)), canonical(t, docs))
}

// Damaged exports fail with the file and where in it, never a partial success.
func TestDamagedExportIsAnErrorNamingFileAndOffset(t *testing.T) {
	out := sampleFiles(t)[sampleOutput].Data
	records := 0
	var firstEnd int
	_, err := eachRecord(bytes.NewReader(out), func(rec []byte, _ int64) error {
		if records == 0 {
			firstEnd = 7 + len(rec)
		}
		records++
		return nil
	})
	require.NoError(t, err)

	cases := map[string]struct {
		data []byte
		want string
	}{
		"cut mid-record":        {out[:len(out)-10], "export: " + sampleOutput + ": block at offset 0: corrupted log: chunk length overflows block"},
		"cut at a record's end": {out[:firstEnd], "export: " + sampleOutput + ": " + itoa(firstEnd) + " bytes, but the export metadata says " + itoa(len(out)) + ": the file is truncated or was changed"},
		"flipped byte":          {flip(out, firstEnd+20), "export: " + sampleOutput + ": block at offset 0: corrupted log: checksum mismatch"},
		"empty":                 {nil, "export: " + sampleOutput + ": 0 bytes, but the export metadata says " + itoa(len(out))},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			files := sampleFiles(t)
			files[sampleOutput] = &fstest.MapFile{Data: c.data}
			_, err := readExport(files)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	t.Run("no metadata", func(t *testing.T) {
		_, err := readExport(fstest.MapFS{"x/output-0": {Data: out}})
		assert.EqualError(t, err, "export: expected one *.overall_export_metadata file (the folder `gcloud firestore export` wrote), found 0")
	})
	t.Run("missing output file", func(t *testing.T) {
		files := sampleFiles(t)
		delete(files, sampleOutput)
		_, err := readExport(files)
		assert.ErrorContains(t, err, "export: open "+sampleOutput+": file does not exist")
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x5a
	return c
}

// FuzzReadExportLog: any bytes in an output file give documents or an error naming the file,
// never a panic. Seeds: the emulator's export of the dataset, whole and record by record.
func FuzzReadExportLog(f *testing.F) {
	out := sampleFiles(f)[sampleOutput].Data
	f.Add(out)
	_, _ = eachRecord(bytes.NewReader(out), func(rec []byte, _ int64) error {
		f.Add(rec)
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		// As a whole file.
		_, _ = eachRecord(bytes.NewReader(data), func(rec []byte, _ int64) error {
			_, err := ParseEntity(rec)
			return err
		})
		// As one record.
		if d, err := ParseEntity(data); err == nil {
			enc, err := EncodeFields(d.Fields)
			if err != nil {
				return
			}
			if _, err := DecodeFields(enc); err != nil {
				t.Fatalf("own encoding does not decode: %v", err)
			}
		}
	})
}
