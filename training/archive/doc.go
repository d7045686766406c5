// Package archive is the Parquet event archive: every accepted event, kept
// for training, replay and analysis long after the event log has dropped it.
//
// It owns the archive's file layout and schema (below), the Writer that
// appends files, the Reader that validates and reads them back, and the
// Archiver that moves the event log (features.EventLog) into the archive
// with at-least-once delivery. It talks to the log only through
// features.EventLog and must not import a store (redisstore, memstore) or
// gRPC.
//
// # Layout
//
//	<dir>/date=YYYY-MM-DD/part-<writer>-<seq>.parquet
//
// date is the UTC date of the events' timestamps (Hive-style partitioning,
// readable as is by pyarrow.dataset, pandas, DuckDB or Spark). writer is the
// id of the Writer ([A-Za-z0-9_]+) and seq its file counter, zero-padded to
// six digits, increasing across all partitions. A file is never
// overwritten or changed once written: a Writer writes
// "<final name>.tmp-<random>", fsyncs it, hard-links it to its final name
// (taking the next seq if that name exists), removes the temporary name and
// fsyncs the directory. Readers ignore "*.tmp-*" files (leftovers of a
// crash) and names starting with "_" or "." (metadata).
//
// The archive is at least once: an event may be in more than one file
// (an archiver that crashed after writing but before acknowledging its log
// entries). Reader.ReadDay removes such duplicates, by (customer_id,
// event_id), keeping the first it reads.
//
// # Schema (version 1)
//
// Every file has these columns, in this order:
//
//	column       type                    null  content
//	event_id     utf8                    no    the client's event id
//	customer_id  utf8                    no    the customer id
//	type         utf8                    no    the event type
//	timestamp    timestamp[ms, tz=UTC]   no    the event time, on the partition's date
//	arrived_at   timestamp[ms, tz=UTC]   no    when Kairos accepted the event
//	amount       float64                 yes   property "amount" when a number
//	currency     utf8                    yes   property "currency" when a string
//	product_id   utf8                    yes   property "product_id" when a string
//	category     utf8                    yes   property "category" when a string
//	page         utf8                    yes   property "page" when a string
//	plan_price   float64                 yes   property "plan_price" when a number
//	properties   utf8                    yes   every other property, as a JSON object
//	log_id       utf8                    no    the event log entry the event came from ("" when written directly)
//
// properties is a JSON object of the properties that have no column of
// their own, and of those that have one but were sent with another kind
// (e.g. "page" sent as a number): strings as JSON strings, numbers as JSON
// numbers, bools as JSON bools, keys in sorted order. It is null when there
// are no such properties. Together the typed columns and properties give
// back every property with its kind, so an event read back equals the
// event written, with times at millisecond precision in UTC.
//
// The Parquet key-value metadata (and the stored Arrow schema's metadata)
// holds "kairos.archive.version" = "1". Columns are zstd-compressed.
package archive
