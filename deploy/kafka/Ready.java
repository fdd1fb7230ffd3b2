// Client-side readiness of a cluster: exits 0 once a metadata request through
// the bootstrap servers lists the expected number of live brokers.
//   java -cp '<kafka jars>/*' Ready.java <bootstrap> <brokers> <timeout-s>
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
    public static void main(String[] args) throws InterruptedException {
        String bootstrap = args[0];
        int expected = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "2000");
        int seen = 0;
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    seen = admin.describeCluster().nodes().get(2, TimeUnit.SECONDS).size();
                    if (seen >= expected) return;
                } catch (Exception notYet) {
                    // a node still starting: ask again
                }
                Thread.sleep(200);
            }
        }
        System.err.printf("kafka: %s lists %d of %d brokers%n", bootstrap, seen, expected);
        System.exit(1);
    }
}
