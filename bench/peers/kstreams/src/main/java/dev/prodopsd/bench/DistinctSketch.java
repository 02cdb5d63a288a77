package dev.prodopsd.bench;

/**
 * Distinct counting as prodopsd does it (daemon/window/hll.h): exact, as a sorted set of 64-bit
 * hashes, up to 1024 items; then HyperLogLog with 2^14 one-byte registers (16 KiB).
 *
 * <p>Sketches are kept serialized, as Kafka Streams stores and caches values as bytes. {@link
 * #add} is copy-on-write: it returns a new array when the item changed the sketch and null when
 * it did not, so an unchanged sketch is not written back to the store.
 *
 * <p>Layout: one mode byte, then for EXACT the sorted hashes as 8-byte big-endian longs, for
 * DENSE the 16384 registers.
 */
final class DistinctSketch {
  static final int PRECISION = 14;
  static final int REGISTERS = 1 << PRECISION;
  static final int MAX_EXACT = 1024;
  private static final byte EXACT = 0;
  private static final byte DENSE = 1;
  private static final int MAX_RHO = 64 - PRECISION + 1;

  private DistinctSketch() {}

  /** 64-bit hash of an item: FNV-1a over the chars, then MurmurHash3's finalizer. */
  static long hash(String item) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < item.length(); i++) {
      h ^= item.charAt(i);
      h *= 0x100000001b3L;
    }
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h;
  }

  /** The sketch with `hash` added, or null if `sketch` already accounts for it. */
  static byte[] add(byte[] sketch, long hash) {
    if (sketch == null || sketch.length == 0) {
      byte[] out = new byte[9];
      out[0] = EXACT;
      putLong(out, 1, hash);
      return out;
    }
    if (sketch[0] == DENSE) {
      final int index = (int) (hash >>> (64 - PRECISION));
      final byte rho = rho(hash);
      if (sketch[1 + index] >= rho) return null;
      byte[] out = sketch.clone();
      out[1 + index] = rho;
      return out;
    }
    final int n = (sketch.length - 1) / 8;
    int low = 0;
    int high = n - 1;
    while (low <= high) {
      final int mid = (low + high) >>> 1;
      final long value = getLong(sketch, 1 + 8 * mid);
      if (value < hash) {
        low = mid + 1;
      } else if (value > hash) {
        high = mid - 1;
      } else {
        return null;
      }
    }
    if (n < MAX_EXACT) {
      byte[] out = new byte[sketch.length + 8];
      System.arraycopy(sketch, 0, out, 0, 1 + 8 * low);
      putLong(out, 1 + 8 * low, hash);
      System.arraycopy(sketch, 1 + 8 * low, out, 1 + 8 * (low + 1), 8 * (n - low));
      return out;
    }
    byte[] dense = new byte[1 + REGISTERS];
    dense[0] = DENSE;
    for (int i = 0; i < n; i++) raise(dense, getLong(sketch, 1 + 8 * i));
    raise(dense, hash);
    return dense;
  }

  /** Estimated distinct items: exact while exact, else the classic HLL estimate. */
  static double estimate(byte[] sketch) {
    if (sketch == null || sketch.length == 0) return 0;
    if (sketch[0] == EXACT) return (sketch.length - 1) / 8;
    double sum = 0;
    int zeros = 0;
    for (int i = 1; i <= REGISTERS; i++) {
      sum += Math.pow(2, -sketch[i]);
      if (sketch[i] == 0) zeros++;
    }
    final double m = REGISTERS;
    final double raw = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    return raw <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : raw;
  }

  private static void raise(byte[] dense, long hash) {
    final int index = (int) (hash >>> (64 - PRECISION));
    final byte rho = rho(hash);
    if (dense[1 + index] < rho) dense[1 + index] = rho;
  }

  private static byte rho(long hash) {
    final long rest = hash << PRECISION;
    return (byte) (rest == 0 ? MAX_RHO : Long.numberOfLeadingZeros(rest) + 1);
  }

  private static long getLong(byte[] b, int at) {
    long v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | (b[at + i] & 0xff);
    return v;
  }

  private static void putLong(byte[] b, int at, long v) {
    for (int i = 7; i >= 0; i--) {
      b[at + i] = (byte) v;
      v >>>= 8;
    }
  }
}
