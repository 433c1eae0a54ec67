# schoolnet: install the publishing script and run it every 30 s.
# Upload schoolnet-system.rsc first (Files, or scp), then paste these lines
# (or /import file-name=install.rsc). Match the interval to the device's
# expected_interval_s in schoolnet's inventory.
/system script add name=schoolnet-system policy=read,write,policy,test source=[/file get schoolnet-system.rsc contents]
/system scheduler add name=schoolnet-system interval=30s start-time=startup on-event="/system script run schoolnet-system" policy=read,write,policy,test
