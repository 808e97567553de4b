using System.Reflection;
using TcpRelay.Cli;

const string usage =
    "tcprelay: expose apps behind NAT through a TCP relay\n" +
    "commands:\n" +
    "  serve      run a relay (tcprelay serve --help)\n" +
    "  agent      expose local services through a relay (tcprelay agent --help)\n" +
    "  status     show a running relay's apps and sessions (tcprelay status --help)\n" +
    "  config     print the effective relay configuration (tcprelay config print --help)\n" +
    "  cert       write a self-signed certificate for the relay and print its pin (tcprelay cert --help)\n" +
    "  --version  print the version";

try
{
    switch (args)
    {
        case ["serve", "--help"] or ["serve", "-h"]:
            Console.WriteLine(ServeCommand.Usage);
            return 0;
        case ["serve", .. var rest]:
            return await ServeCommand.RunAsync(rest);
        case ["agent", "--help"] or ["agent", "-h"]:
            Console.WriteLine(AgentCommand.Usage);
            return 0;
        case ["agent", .. var rest]:
            return await AgentCommand.RunAsync(rest);
        case ["status", "--help"] or ["status", "-h"]:
            Console.WriteLine(StatusCommand.Usage);
            return 0;
        case ["status", .. var rest]:
            return await StatusCommand.RunAsync(rest, Console.Out);
        case ["config", "print", "--help"] or ["config", "print", "-h"] or ["config"] or ["config", "--help"]:
            Console.WriteLine(ConfigCommand.Usage);
            return 0;
        case ["config", "print", .. var rest]:
            return await ConfigCommand.RunAsync(rest, Console.Out);
        case ["cert", "--help"] or ["cert", "-h"]:
            Console.WriteLine(CertCommand.Usage);
            return 0;
        case ["cert", .. var rest]:
            return CertCommand.Run(rest, Console.Out);
        case ["--version"]:
            Console.WriteLine(Assembly.GetExecutingAssembly().GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]);
            return 0;
        case [] or ["--help"] or ["-h"] or ["help"]:
            Console.WriteLine(usage);
            return 0;
        default:
            throw new UsageException($"unknown command '{args[0]}' (try tcprelay --help)");
    }
}
catch (UsageException e)
{
    await Console.Error.WriteLineAsync($"tcprelay: error: {e.Message}");
    return 2;
}
