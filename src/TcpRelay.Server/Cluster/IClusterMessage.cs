namespace TcpRelay.Server.Cluster;

/// <summary>
/// A message that crosses nodes: written by <see cref="ClusterMessageSerializer"/>, to which the
/// cluster layer binds this interface.
/// </summary>
internal interface IClusterMessage;
