# schoolnet: publish /system resource over MQTT (RouterOS 7, iot package).
# Lands on schoolnet's built-in route `mikrotik-system`
# (topic mikrotik/<device>/system, RouterOS key names). See README.md.
# Keep it under 4 KB: /file get ... contents reads no more.

# The broker's name under /iot mqtt brokers.
:local broker "schoolnet"
# The device id as in schoolnet's inventory (devices.csv device_id);
# default: the router's identity. A topic level: no / + # or spaces.
:local device [/system identity get name]
:local topic ("mikrotik/" . $device . "/system")

:local uptime [/system resource get uptime]
:local cpuLoad [/system resource get cpu-load]
:local freeMemory [/system resource get free-memory]
:local totalMemory [/system resource get total-memory]
:local boardName [/system resource get board-name]
:local version [/system resource get version]

# The first health sensor that reports a temperature. Boards without one
# (CHR, x86, some hAP) send null: schoolnet stores no temperature for them.
:local temperature "null"
:do {
  :foreach sensor in={"temperature";"cpu-temperature";"board-temperature1"} do={
    :if ($temperature = "null") do={
      :local found [/system health find where name=$sensor]
      :if ([:len $found] > 0) do={
        :set temperature [/system health get ($found->0) value]
      }
    }
  }
} on-error={}

:local message ("{\"uptime\":\"" . $uptime . "\",\"cpu-load\":" . $cpuLoad . ",\"free-memory\":" . $freeMemory . ",\"total-memory\":" . $totalMemory . ",\"temperature\":" . $temperature . ",\"board-name\":\"" . $boardName . "\",\"version\":\"" . $version . "\"}")

/iot mqtt publish broker=$broker topic=$topic message=$message qos=1
