package dev.prodopsd.bench;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import prodops.v1.Events.ExposureEvent;
import prodops.v1.Events.ReleaseEvent;
import prodops.v1.Events.TicketEvent;
import prodops.v1.Events.UsageEvent;

/**
 * prodopsd's foundation aggregates as a Kafka Streams application, the peer bench/run.sh measures
 * prodopsd against. It reads the same protobuf topics from the beginning and keeps, in RocksDB
 * stores with Kafka Streams' record cache (and changelog topics, its fault tolerance):
 *
 * <ul>
 *   <li>usage events per feature/action and ticket creations per type/priority/team, per 60 s
 *       and per 1 h bucket (the buckets prodopsd's 1h, 1d and 7d windows are merged from) and in
 *       total;
 *   <li>distinct users per feature (and "__all__") per 60 s and 1 h bucket, exact up to 1024 then
 *       HyperLogLog with 2^14 registers, as prodopsd counts them ({@link DistinctSketch});
 *   <li>releases per team/kind and exposures (events and distinct users) per experiment/variant,
 *       per 1 h bucket.
 * </ul>
 *
 * <p>Buckets are kept 7 d + 1 h, prodopsd's default retention. The aggregates are partial per
 * task (input partition) and summed at query time, so that no repartition topic is needed: the
 * cheapest faithful Kafka Streams form of this work. It does less than prodopsd, which also folds
 * every ticket's lifecycle and computes the release, feature and experiment signals.
 *
 * <p>It counts the messages in the topics first, exits once it has processed that many (closing
 * the streams flushes the caches to RocksDB and commits), and prints one line of JSON: events,
 * seconds (first record to the end of close), events_per_second, run_seconds.
 */
public final class ProdopsStreams {
  static final long MINUTE_MS = 60_000;
  static final long HOUR_MS = 3_600_000;
  static final Duration RETENTION = Duration.ofDays(7).plusHours(1);

  enum Kind {
    USAGE,
    TICKET,
    RELEASE,
    EXPOSURE
  }

  static final String COUNTS_60S = "counts-60s";
  static final String COUNTS_1H = "counts-1h";
  static final String USERS_60S = "users-60s";
  static final String USERS_1H = "users-1h";
  static final String TOTALS = "totals";

  static final AtomicLong processed = new AtomicLong();
  static final AtomicLong rejected = new AtomicLong();
  static final AtomicLong firstRecordNanos = new AtomicLong();

  private static final String USAGE =
      "usage: ProdopsStreams --bootstrap HOST:PORT --topic NAME:KIND [--topic ...]\n"
          + "         --state-dir DIR [--application-id ID] [--guarantee at_least_once|exactly_once_v2]\n"
          + "         [--threads N] [--commit-interval-ms MS] [--cache-bytes B] [--timeout-s S]\n"
          + "  KIND is usage, ticket, release or exposure (bare protobuf messages)\n";

  public static void main(String[] args) throws Exception {
    Map<String, List<String>> flags = parseFlags(args);
    final String bootstrap = one(flags, "bootstrap", null);
    final String stateDir = one(flags, "state-dir", null);
    final Map<String, Kind> topics = new HashMap<>();
    for (String spec : flags.getOrDefault("topic", List.of())) {
      final int colon = spec.lastIndexOf(':');
      if (colon <= 0) usageError("--topic wants NAME:KIND, got " + spec);
      topics.put(spec.substring(0, colon), Kind.valueOf(spec.substring(colon + 1).toUpperCase()));
    }
    if (bootstrap == null || stateDir == null || topics.isEmpty()) {
      usageError("--bootstrap, --state-dir and --topic are required");
    }
    final String applicationId =
        one(flags, "application-id", "prodops-kstreams-" + System.currentTimeMillis());
    final long timeoutNanos = Long.parseLong(one(flags, "timeout-s", "3600")) * 1_000_000_000L;

    final long expected = countMessages(bootstrap, topics.keySet());
    System.err.println("kstreams: " + expected + " messages to process in " + topics.keySet());

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    props.put(
        StreamsConfig.PROCESSING_GUARANTEE_CONFIG, one(flags, "guarantee", "exactly_once_v2"));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, one(flags, "threads", "1"));
    // prodopsd's defaults: a flush every second, 64 MiB of write-combining cache.
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, one(flags, "commit-interval-ms", "1000"));
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, one(flags, "cache-bytes", "67108864"));
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    final KafkaStreams streams = new KafkaStreams(buildTopology(topics), props);
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    streams.setUncaughtExceptionHandler(
        e -> {
          failure.compareAndSet(null, e);
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    final long runStarted = System.nanoTime();
    streams.start();
    while (processed.get() < expected) {
      if (failure.get() != null) {
        streams.close(Duration.ofSeconds(30));
        throw new IllegalStateException("the streams application failed", failure.get());
      }
      if (System.nanoTime() - runStarted > timeoutNanos) {
        streams.close(Duration.ofSeconds(30));
        throw new IllegalStateException(
            "timed out with " + processed.get() + " of " + expected + " messages processed");
      }
      Thread.sleep(10);
    }
    // Closing flushes the record caches into RocksDB, writes the changelogs and commits.
    if (!streams.close(Duration.ofMinutes(5))) {
      throw new IllegalStateException("the streams application did not close within 5 minutes");
    }
    final long done = System.nanoTime();
    final long first = firstRecordNanos.get();
    final double seconds = first == 0 ? 0 : (done - first) / 1e9;
    System.out.printf(
        "{\"events\":%d,\"rejected\":%d,\"seconds\":%.6f,\"events_per_second\":%.1f,"
            + "\"run_seconds\":%.6f}%n",
        processed.get(),
        rejected.get(),
        seconds,
        seconds > 0 ? processed.get() / seconds : 0,
        (done - runStarted) / 1e9);
  }

  static Topology buildTopology(Map<String, Kind> topics) {
    Topology topology = new Topology();
    topology.addSource(
        "events",
        new ByteArrayDeserializer(),
        new ByteArrayDeserializer(),
        topics.keySet().toArray(new String[0]));
    topology.addProcessor("aggregate", () -> new Aggregator(topics), "events");
    topology.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(
                    COUNTS_60S, RETENTION, Duration.ofMillis(MINUTE_MS), false),
                Serdes.String(),
                Serdes.Long())
            .withCachingEnabled(),
        "aggregate");
    topology.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(COUNTS_1H, RETENTION, Duration.ofMillis(HOUR_MS), false),
                Serdes.String(),
                Serdes.Long())
            .withCachingEnabled(),
        "aggregate");
    topology.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(
                    USERS_60S, RETENTION, Duration.ofMillis(MINUTE_MS), false),
                Serdes.String(),
                Serdes.ByteArray())
            .withCachingEnabled(),
        "aggregate");
    topology.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(USERS_1H, RETENTION, Duration.ofMillis(HOUR_MS), false),
                Serdes.String(),
                Serdes.ByteArray())
            .withCachingEnabled(),
        "aggregate");
    topology.addStateStore(
        Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(TOTALS), Serdes.String(), Serdes.Long())
            .withCachingEnabled(),
        "aggregate");
    return topology;
  }

  /** One processor for every topic: decodes by the topic's kind and updates the stores. */
  static final class Aggregator implements Processor<byte[], byte[], Void, Void> {
    private final Map<String, Kind> topics;
    private ProcessorContext<Void, Void> context;
    private WindowStore<String, Long> counts60s;
    private WindowStore<String, Long> counts1h;
    private WindowStore<String, byte[]> users60s;
    private WindowStore<String, byte[]> users1h;
    private KeyValueStore<String, Long> totals;

    Aggregator(Map<String, Kind> topics) {
      this.topics = topics;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      counts60s = context.getStateStore(COUNTS_60S);
      counts1h = context.getStateStore(COUNTS_1H);
      users60s = context.getStateStore(USERS_60S);
      users1h = context.getStateStore(USERS_1H);
      totals = context.getStateStore(TOTALS);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
      firstRecordNanos.compareAndSet(0, System.nanoTime());
      final String topic = context.recordMetadata().map(m -> m.topic()).orElse("");
      try {
        switch (topics.get(topic)) {
          case USAGE -> usage(UsageEvent.parseFrom(record.value()));
          case TICKET -> ticket(TicketEvent.parseFrom(record.value()));
          case RELEASE -> release(ReleaseEvent.parseFrom(record.value()));
          case EXPOSURE -> exposure(ExposureEvent.parseFrom(record.value()));
        }
      } catch (InvalidProtocolBufferException e) {
        rejected.incrementAndGet();
      }
      processed.incrementAndGet();
    }

    private void usage(UsageEvent e) {
      if (e.getEventId().isEmpty() || !e.hasOccurredAt() || e.getFeature().isEmpty()
          || e.getUserId().isEmpty()) {
        rejected.incrementAndGet();
        return;
      }
      final long t = millis(e.getOccurredAt());
      final String key = "usage|" + e.getFeature() + "|" + e.getAction();
      count(key, t);
      final long user = DistinctSketch.hash(e.getUserId());
      distinct(users60s, "users|" + e.getFeature(), bucket(t, MINUTE_MS), user);
      distinct(users60s, "users|__all__", bucket(t, MINUTE_MS), user);
      distinct(users1h, "users|" + e.getFeature(), bucket(t, HOUR_MS), user);
      distinct(users1h, "users|__all__", bucket(t, HOUR_MS), user);
    }

    private void ticket(TicketEvent e) {
      if (e.getEventId().isEmpty() || !e.hasOccurredAt() || e.getTicketId().isEmpty()) {
        rejected.incrementAndGet();
        return;
      }
      if (e.getKind() != TicketEvent.Kind.CREATED) return;
      count(
          "tickets|" + e.getType() + "|" + e.getPriority() + "|" + e.getTeam(),
          millis(e.getOccurredAt()));
    }

    private void release(ReleaseEvent e) {
      if (e.getEventId().isEmpty() || !e.hasOccurredAt() || e.getRelease().isEmpty()) {
        rejected.incrementAndGet();
        return;
      }
      final long t = millis(e.getOccurredAt());
      final String key = "releases|" + e.getTeam() + "|" + e.getKind();
      increment(totals, key);
      increment(counts1h, key, bucket(t, HOUR_MS));
    }

    private void exposure(ExposureEvent e) {
      if (e.getEventId().isEmpty() || !e.hasOccurredAt() || e.getUserId().isEmpty()) {
        rejected.incrementAndGet();
        return;
      }
      final long t = millis(e.getOccurredAt());
      final String key = "exposures|" + e.getExperiment() + "|" + e.getVariant();
      increment(totals, key);
      increment(counts1h, key, bucket(t, HOUR_MS));
      distinct(users1h, key, bucket(t, HOUR_MS), DistinctSketch.hash(e.getUserId()));
    }

    /** In total and per 60 s and 1 h bucket. */
    private void count(String key, long t) {
      increment(totals, key);
      increment(counts60s, key, bucket(t, MINUTE_MS));
      increment(counts1h, key, bucket(t, HOUR_MS));
    }

    private static void increment(KeyValueStore<String, Long> store, String key) {
      final Long old = store.get(key);
      store.put(key, old == null ? 1L : old + 1);
    }

    private static void increment(WindowStore<String, Long> store, String key, long start) {
      final Long old = store.fetch(key, start);
      store.put(key, old == null ? 1L : old + 1, start);
    }

    private static void distinct(
        WindowStore<String, byte[]> store, String key, long start, long hash) {
      final byte[] updated = DistinctSketch.add(store.fetch(key, start), hash);
      if (updated != null) store.put(key, updated, start);
    }
  }

  static long millis(Timestamp ts) {
    return ts.getSeconds() * 1000 + ts.getNanos() / 1_000_000;
  }

  static long bucket(long t, long width) {
    return Math.floorDiv(t, width) * width;
  }

  /** Messages in the topics now: the sum over partitions of end minus beginning offsets. */
  static long countMessages(String bootstrap, Iterable<String> topics) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : topics) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
          throw new IllegalStateException("topic " + topic + " does not exist");
        }
        for (PartitionInfo info : infos) partitions.add(new TopicPartition(topic, info.partition()));
      }
      Map<TopicPartition, Long> begin = consumer.beginningOffsets(partitions, Duration.ofSeconds(30));
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
      long total = 0;
      for (TopicPartition tp : partitions) total += end.get(tp) - begin.get(tp);
      return total;
    }
  }

  private static Map<String, List<String>> parseFlags(String[] args) {
    Map<String, List<String>> flags = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) usageError("bad argument " + args[i]);
      flags.computeIfAbsent(args[i].substring(2), k -> new ArrayList<>()).add(args[++i]);
    }
    return flags;
  }

  private static String one(Map<String, List<String>> flags, String name, String fallback) {
    List<String> values = flags.get(name);
    return values == null ? fallback : values.get(values.size() - 1);
  }

  private static void usageError(String message) {
    System.err.print("ProdopsStreams: " + message + "\n" + USAGE);
    System.exit(2);
  }
}
