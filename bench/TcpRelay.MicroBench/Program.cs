using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace TcpRelay.MicroBench;

public static class Program
{
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, ArtifactsBesideTheBinaries());

    // BenchmarkDotNet writes its reports under the current directory by default, which from the repo
    // root is an untracked folder the .gitignore does not cover; under bin/ it is ignored.
    // --artifacts on the command line still wins.
    private static IConfig ArtifactsBesideTheBinaries() =>
        DefaultConfig.Instance.WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
}
