package archive_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"kairos/features"
	"kairos/training/archive"
)

func Example() {
	dir, err := os.MkdirTemp("", "archive")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w, err := archive.NewWriter(dir, archive.WriterOptions{ID: "example"})
	if err != nil {
		log.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	w.Write([]features.Event{
		{ID: "e1", CustomerID: "ada", Type: "purchase", Time: at,
			Properties: map[string]features.Value{"amount": features.Number(49), "currency": features.String("EUR"), "coupon": features.String("SPRING")}},
		{ID: "e2", CustomerID: "ada", Type: "login", Time: at.Add(2 * time.Minute)},
	}, at.Add(2*time.Minute), "")
	paths, err := w.Flush()
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		fmt.Println(filepath.ToSlash(rel))
	}

	r, err := archive.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, day := range r.Days() {
		events, err := r.ReadDay(day)
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range events {
			fmt.Println(day.Format(time.DateOnly), e.ID, e.Type, e.Time.Format(time.TimeOnly), len(e.Properties), "properties", e.Properties["coupon"].String())
		}
	}
	// Output:
	// date=2026-03-01/part-example-000001.parquet
	// date=2026-03-02/part-example-000002.parquet
	// 2026-03-01 e1 purchase 23:59:00 3 properties SPRING
	// 2026-03-02 e2 login 00:01:00 0 properties
}
