// Prints "<topic> <cleanup.policy> <retention.ms>" for every topic whose name
// starts with a prefix, as the broker describes it (the e2e tests check the
// changelog topics prodopsd creates). Run with the broker's jars:
//   java -cp "$(tests/e2e/kafka.sh classpath)" tests/e2e/kafka/TopicConfigs.java \
//     BOOTSTRAP PREFIX
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.common.config.ConfigResource;

public class TopicConfigs {
  public static void main(String[] args) throws Exception {
    Properties properties = new Properties();
    properties.put("bootstrap.servers", args[0]);
    try (Admin admin = Admin.create(properties)) {
      List<String> names = new ArrayList<>();
      for (String name : admin.listTopics().names().get()) {
        if (name.startsWith(args[1]))
          names.add(name);
      }
      Collections.sort(names);
      List<ConfigResource> resources = new ArrayList<>();
      for (String name : names)
        resources.add(new ConfigResource(ConfigResource.Type.TOPIC, name));
      Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all().get();
      for (ConfigResource resource : resources) {
        Config config = configs.get(resource);
        System.out.println(resource.name() + " " + config.get("cleanup.policy").value()
            + " " + config.get("retention.ms").value());
      }
    }
  }
}
