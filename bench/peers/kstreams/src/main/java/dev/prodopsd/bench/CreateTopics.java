package dev.prodopsd.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates bench/run.sh's input topics with Kafka's Admin API (the broker jars of tests/e2e/kafka.sh
 * do not include the kafka-topics tool): CreateTopics BOOTSTRAP PARTITIONS TOPIC... A topic that
 * already exists is an error, so that a run never measures leftovers.
 */
public final class CreateTopics {
  public static void main(String[] args) throws InterruptedException {
    if (args.length < 3) {
      System.err.println("usage: CreateTopics BOOTSTRAP PARTITIONS TOPIC...");
      System.exit(2);
    }
    final int partitions = Integer.parseInt(args[1]);
    List<NewTopic> topics = new ArrayList<>();
    for (int i = 2; i < args.length; i++) {
      topics.add(new NewTopic(args[i], Optional.of(partitions), Optional.empty()));
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    try (Admin admin = Admin.create(props)) {
      admin.createTopics(topics).all().get();
    } catch (ExecutionException e) {
      final String why =
          e.getCause() instanceof TopicExistsException ? "a topic exists already: " : "";
      System.err.println("CreateTopics: " + why + e.getCause().getMessage());
      System.exit(1);
    }
  }
}
